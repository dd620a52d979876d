"""baselines/tables"""
