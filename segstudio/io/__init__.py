"""Files and formats: images, the project folder, dataset importers and exporters. Never Qt or torch."""
