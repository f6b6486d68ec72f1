"""Reading one shape: mesh and point-file readers, face winding, surface sampling, the up axis."""
