from isomix.cli import run

run()
