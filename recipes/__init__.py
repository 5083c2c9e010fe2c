"""Training recipes (YAML) that ship with the package; trainers.recipe reads them from here."""
