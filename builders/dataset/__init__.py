"""builders/dataset"""
