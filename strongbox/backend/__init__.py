"""The mount seam: the contract between the router and every backend (docs/design.md §5)."""
