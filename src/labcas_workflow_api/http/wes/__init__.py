"""The GA4GH WES 1.1 face at ``/ga4gh/wes/v1``: a thin edge over the same services and rules."""
