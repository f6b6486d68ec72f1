"""From prepared point sets to training batches: the torch dataset, held-out splits, augmentation, mixing."""
