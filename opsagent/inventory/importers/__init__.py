"""Importers: our YAML, CSV, Ansible INI/YAML inventories → :class:`Inventory`."""
