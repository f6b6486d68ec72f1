"""Write the procedural ModelNet-style corpus into data/synthetic (same as `pointnet-make-synthetic`).

Usage: python scripts/make_synthetic.py [--root data/synthetic] [--seed 0] [--train-per-class 40] ...
"""
from pointnet.data.synthetic import main

if __name__ == "__main__":
    main()
