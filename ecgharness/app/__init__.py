"""The local web page of `bench app` (Streamlit): :mod:`ecgharness.app.page`."""
