from benchcore.cli import console

console()
