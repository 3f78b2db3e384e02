"""pimrl-jax: physics-informed multi-scale recurrent learning of burst-sampled PDE dynamics."""

__version__ = "0.1.0"
