"""Changed locations found as they happen: watch the protected folders and turn what changes into dirty paths,
so a storage time reads only those (docs/ARCHITECTURE.md, "The method in modules")."""
