"""placeholder"""
DESCRIPTION = ""
