"""Side effects, one module per kind; each a class that receives its clients."""
