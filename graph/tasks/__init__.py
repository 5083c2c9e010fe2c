"""Task files: ``load.py`` reads one (observed instructions, held-out items with answers or
checks), ``build.py`` builds dev-suite tasks from instruction sets (``tasks build``)."""
