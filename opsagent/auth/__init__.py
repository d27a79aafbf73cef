"""Who is calling: identities, bearer tokens, and the checks every HTTP write (and, optionally, read)
passes. Later: users, roles, sessions, LDAP bind and the one audit log (DESIGN.md)."""
