"""History while the drive is away: a bounded repository on this computer's own disk, one per destination, that
keeps the storage times taken while the destination is absent and hands them to the drive when it returns."""
