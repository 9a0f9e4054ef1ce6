"""A plugin whose build hook fails after writing, to see the stage rolled back."""
