"""builders/audit"""
