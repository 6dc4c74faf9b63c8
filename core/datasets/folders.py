"""On-disk datasets: HAM10000, fundus (EyePACS/APTOS), image folders, MedMNIST npz."""
from __future__ import annotations
