"""Generator and discriminator architectures shared by the methods."""
