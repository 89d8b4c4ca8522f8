"""Test and benchmark helpers that ship with LAM3 (no test framework needed to import them).

:mod:`lam3.testing.fake_apis` is a real HTTP server on 127.0.0.1 speaking the
Perspective and OpenAI Moderation contracts, and :mod:`lam3.testing.fake_chat` one
speaking chat completions (with ``logprobs``), both with a quota and fault injection,
so the remote judges can be exercised and benchmarked offline. Their shared server
machinery is :mod:`lam3.testing.http_fake`.
:mod:`lam3.testing.synthetic` writes larger response files derived from the mini benchmark
(for the real score and fuse stages), and :mod:`lam3.testing.view_process` runs ``lam3 view``
as a user would and reads the URL it prints.
"""
