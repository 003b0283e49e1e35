"""Vision: images in, patches and patch embeddings out (Dosovitskiy et al. 2021, An Image is Worth 16x16 Words)."""
