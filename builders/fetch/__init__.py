"""Fetch the published Scale-VQA release from the Hugging Face Hub."""
