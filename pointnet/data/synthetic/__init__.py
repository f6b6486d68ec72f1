"""The offline procedural ModelNet-style corpus: the generator, a builder per furniture class, polygons."""
