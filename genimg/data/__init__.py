"""Training data and pictures: datasets (MNIST, Fashion-MNIST, CIFAR-10, shapes, folders), uploaded zips, a user's input pictures, and tensor ↔ picture conversion."""
