"""Device CLIs over netmiko: configuration backup with stored versions and masked diffs."""
