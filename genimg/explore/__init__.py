"""What the Explore tabs compute: the model catalog (cached models), latent directions, interpolation, encoding and GAN inversion."""
