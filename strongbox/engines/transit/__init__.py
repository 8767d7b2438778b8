"""Transit: encryption as a service on the mount seam."""
