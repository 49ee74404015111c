def clinic(request):
    return {"clinic": getattr(request, "clinic", None)}
