"""baselines/text_only"""
