"""Database secrets engine: short-lived PostgreSQL credentials on the mount seam."""
