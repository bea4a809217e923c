"""The coalescer: thin history by a retention rule, fold dropped snapshots into kept ones, reclaim space."""
