"""The staff side of the domain: accounts and roles, what each may do, their work on cases."""
