"""camscan: find network cameras and recorders, identify who made them, flag sanctioned vendors."""
__version__ = "0.1.0"
