"""``python -m gdtrace`` runs the same CLI as the ``gdtrace`` command."""

from gdtrace.cli import main

if __name__ == "__main__":
    main()
