"""The live depth view: the depth/body-part pair, its view and its frame worker."""
