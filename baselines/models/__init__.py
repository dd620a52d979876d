"""baselines/models"""
