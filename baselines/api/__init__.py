"""baselines/api"""
