def network(request):
    return {"network": getattr(request, "network", None)}
