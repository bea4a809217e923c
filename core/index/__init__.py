"""The SQLite index (through peewee): a cache of the drive that answers the timeline's questions fast."""
