"""Work off the GUI thread: the prioritised worker, the job client and the gc guard."""
