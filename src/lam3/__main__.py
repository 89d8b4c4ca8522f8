from lam3.cli import main

main()
