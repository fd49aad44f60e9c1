"""Models in the app: docks for pre-labelling, training, device, weights download and scores."""
