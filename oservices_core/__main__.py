"""``python -m oservices_core``: the same command line as ``oservices``."""

from oservices_core._cli.app import main

raise SystemExit(main())
