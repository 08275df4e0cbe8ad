"""GAN methods, the generic training loop, networks and data sets."""
