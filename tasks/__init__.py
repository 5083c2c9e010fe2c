"""Task files that ship with the package (the default task, planets.yaml); found beside graph/ when installed."""
