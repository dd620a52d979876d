"""builders/wsi"""
